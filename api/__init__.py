"""HTTP: parses requests, calls the domain packages, formats JSON and pages."""
