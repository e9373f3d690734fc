// libFuzzer's driver, called from each fuzz target's own entry point: SwiftPM names an
// executable's entry point itself, so libFuzzer's main cannot be the program's.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
