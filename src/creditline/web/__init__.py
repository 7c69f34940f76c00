"""The web pages: a shell over the services, like the API."""
