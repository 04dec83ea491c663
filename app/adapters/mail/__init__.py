"""Requests to the vendor's support by email: the MIME message and the SMTP session."""
