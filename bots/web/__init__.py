"""The web server: shared links, QR codes, figures, metrics and health checks."""
