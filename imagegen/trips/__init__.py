"""The trip lookbook's core: a destination and dates → each day's weather, outfit and picture.

What the models, pages, API and queue call (none of it touches the database):

- `dates.trip_dates(start, end, today=place.today())` → the days, or InvalidTripDates naming
  the field (a past start, the end before the start, more than TRIP_MAX_DAYS).
- `places.search_places(name, language=)` → PlaceSearch (`.place` when unambiguous, else
  `.candidates` to offer); `places.place_by_id(id, language=)` for the one chosen, and in
  English for the picture prompts.
- `weather.trip_weather(place, dates)` → TripWeather (`.days`, `.missing` to ask for,
  `.lookups` for metrics), or `open_meteo.WeatherUnavailable` (`.known`, `.lookups`): then ask
  for the temperatures, `conditions.manual_day(date, max, min)`.
- `planner.plan_trip(days, activities, style_note)` → TripPlan (`.days`, `.packing`,
  `.planner` for metrics); `vocabulary.find_activity(word)` reads typed activities.
- `prompts.day_picture(place, day_plan, with_photo=)` → DayPicture (task, prompt).
- `open_meteo.ATTRIBUTION` (and its URLs) for every page that shows the weather.
"""
