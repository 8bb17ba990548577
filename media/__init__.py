"""Photo pipeline and storage."""
