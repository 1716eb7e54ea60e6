"""The Matrix adapter: matrix-nio with end-to-end encryption, sessions kept in the data dir."""
