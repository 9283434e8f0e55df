"""The OpenID Connect protocol, free of HTTP rendering: views translate requests into calls here
and render what comes back (architecture.md habit 1). Nothing here imports django.http."""
