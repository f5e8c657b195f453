"""Second factor: TOTP (RFC 6238) with recovery codes, and the two-step login."""
