"""Private PostgreSQL and Redis servers for a lab, from binaries that ship in pip wheels."""
