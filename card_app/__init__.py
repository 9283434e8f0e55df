"""Reference card app (library and `caducee-card` CLI), speaking only the public app API."""
