// Intentionally empty: CCUDA only declares types for dlopen-ed CUDA libraries.
