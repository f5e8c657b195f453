-- POSTs a fixed refresh-grant body (the one-script floor server reads it and ignores its token).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"grant_type":"refresh_token","refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
