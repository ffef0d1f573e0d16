"""Operations: health endpoints for load balancers and service managers."""
