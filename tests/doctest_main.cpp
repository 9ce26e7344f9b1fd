// doctest_main.cpp: the one doctest main() shared by every unit-test binary.
// Knows nothing but doctest.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
