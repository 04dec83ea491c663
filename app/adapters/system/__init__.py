"""The booth PC itself: keyring secrets, the settings file, folders and logs."""
