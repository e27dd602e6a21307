"""Sync between a desktop's local mirror and a server: the change feed (server side), the
mirror's outbox and refresh (client side), and the async client that moves them."""
