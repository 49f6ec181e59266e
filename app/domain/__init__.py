"""Pure domain: money, records, statuses, keys and errors. Imports nothing but the standard library."""
