"""Stand-ins for what Sync Hub has on AWS but the local emulators do not serve: the CloudFront
distribution in front of the web bucket (cdn.py) and Google's OpenID Connect provider
(google.py)."""
