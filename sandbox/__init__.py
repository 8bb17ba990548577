"""A local Telegram Bot API sandbox: the real Bot API shapes, a web chat page, optional rate limits."""
