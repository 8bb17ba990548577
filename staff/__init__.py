"""Staff accounts of the web desk: roles, units, hashed passwords, sign-in lockout, sessions."""
