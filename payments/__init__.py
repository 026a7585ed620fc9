"""The domain: models, the state machine, services, reports. Free of Flask (except web/)."""
