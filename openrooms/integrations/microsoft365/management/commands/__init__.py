"""`send_secret_expiry_warnings`: the client-secret expiry e-mails, from the command line."""
