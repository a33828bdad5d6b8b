-- wrk script: GET /email.mobileconfig with a distinct address in every request.
--
--   wrk ... -s bench/profile_addresses.lua http://127.0.0.1:PORT/email.mobileconfig -- DOMAIN
--
-- Each profile names its address (and derives its UUIDs from it), so one
-- address over and over would measure one profile only. Addresses are
-- u<thread>-<7-digit counter>@DOMAIN, all of one length, so every answer has
-- the same size and the baseline's constant body matches them;
-- bench/profiles.py's profile_address() builds the same names for its checks.
-- Non-2xx answers are counted by wrk itself ("Non-2xx or 3xx responses").

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  domain = args[1]
  if domain == nil then
    error("usage: wrk ... -s profile_addresses.lua URL -- DOMAIN")
  end
  counter = 0
end

function request()
  counter = (counter + 1) % 10000000
  local path = string.format("/email.mobileconfig?emailaddress=u%d-%07d%%40%s", tid, counter, domain)
  return wrk.format(nil, path)
end
