/* actors/counter2.c: counter.c changed to count by 2: the "new version" the replay tests run
 * against chains recorded by counter.c to show a divergence report. */
#define COUNTER_STEP 2
#include "counter.c"
