"""Blueprints, one per audience; each view parses the request, calls one domain function, renders."""
