"""The foundation: what decides the bits (reproducible), where torch computes (devices),
the tests and intervals (stats), atomic files and checked reading (files). No study here."""
