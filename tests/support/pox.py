"""Autodiscover POX request bodies, as Outlook and Thunderbird send them (docs/clients.md section 2.4)."""

from __future__ import annotations

__all__ = ["MOBILESYNC_SCHEMA", "OUTLOOK_SCHEMA", "pox_request"]

OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"


def pox_request(address: str, schema: str = OUTLOOK_SCHEMA) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">\n'
        "  <Request>\n"
        f"    <EMailAddress>{address}</EMailAddress>\n"
        f"    <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>\n"
        "  </Request>\n"
        "</Autodiscover>\n"
    ).encode()
