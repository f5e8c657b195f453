"""API clients (service accounts): client_id + secret over HTTP Basic, holding roles."""
