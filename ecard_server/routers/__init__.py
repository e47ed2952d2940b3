"""The API by area: keys and revocation (public), activation (terminals, devices), codes and credentials
(devices), the holder's own record and loss, scan-to-login."""
