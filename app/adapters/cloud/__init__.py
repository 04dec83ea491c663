"""The vendor's cloud over HTTP (httpx): the client, its wire format, AI jobs, refund requests."""
