/* A trivial ascend-docker-cli for the benchmark: exits 0 at once. */
int main(void) { return 0; }
