"""HTTP tests of the mock's handlers (mock_server/handlers)."""
