// The declaration in include/ is all there is; libFuzzer's runtime defines the function.
#include "CFuzzerDriver.h"
