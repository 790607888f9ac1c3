"""The image generation app: requests, quotas, providers, the background task and the pages."""
