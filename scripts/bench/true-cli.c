/* A trivial ascend-docker-cli for the benchmark: exits 0 at once. Built with -DCLI_2023 its bytes name
 * `allow-link`, as the option table of every CLI shipped since March 2023 does (how the wrapper tells). */
#ifdef CLI_2023
const char option_table[] __attribute__((used)) = "allow-link";
#endif
int main(void) { return 0; }
