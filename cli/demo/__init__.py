"""cua demo's kit: the stand-in Messages API, scripted policies and the supplier form."""
