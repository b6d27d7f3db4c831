"""Protocol buffer definitions and generated gRPC code for the scheduler and controller manager."""
