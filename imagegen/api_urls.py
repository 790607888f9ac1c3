"""URLs of the JSON API (/api/v1/…) and of the page where users manage their API keys."""

app_name = "api"

urlpatterns = []
