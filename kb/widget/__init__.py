"""The help panel inside the merchant's product: allowed origins, the panel's token, signed identities,
page-context rules and where each record came from."""
