"""Phone and desktop alerts beyond the tray, through Apprise (ntfy, Pushover, Telegram, e-mail,
webhooks...): one alert to one Apprise URL, its failures turned into AlertNotSent or
BadAlertAddress with words an operator can act on and without the URL (it carries a token)."""
