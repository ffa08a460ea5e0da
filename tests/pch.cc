// Builds the precompiled header of the tests (tests/CMakeLists.txt, coffer_test_pch).
