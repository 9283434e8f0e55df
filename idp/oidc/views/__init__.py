"""HTTP views of the OpenID provider: parse the request, call the protocol, render the result."""
