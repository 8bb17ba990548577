"""Open311 GeoReport v2 over the case lifecycle: services, requests, tokens and API keys.

The HTTP layer (`api/open311.py`) parses the spec's forms and renders JSON or XML; this
package holds what is specific to Open311 but free of HTTP: API keys, request tokens, the
services' attribute definitions and the mapping between a case and a service request.
"""
