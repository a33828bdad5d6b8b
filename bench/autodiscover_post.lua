-- wrk script: POST the Outlook/Thunderbird Autodiscover request in every request.
--
--   wrk ... -s bench/autodiscover_post.lua http://127.0.0.1:PORT/autodiscover/autodiscover.xml -- BODY_FILE
--
-- The body is read from BODY_FILE (bench/autodiscover_request.xml) rather
-- than written here, so throughput.py's pre-check and wrk send the same bytes.
-- Non-2xx answers are not counted here: wrk prints "Non-2xx or 3xx responses"
-- itself, and a response() callback would slow every request down.

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s autodiscover_post.lua URL -- BODY_FILE")
  end
  local file = assert(io.open(path, "rb"))
  local body = file:read("*a")
  file:close()
  -- wrk.init calls this before it formats the request, so these take effect.
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
end
