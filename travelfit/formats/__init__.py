"""The site's own date and time formats, where Django's locale formats read wrong (settings:
FORMAT_MODULE_PATH); anything not set here is Django's."""
