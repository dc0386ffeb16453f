// Placeholder while this module is written in this session.
