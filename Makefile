# Cryo: the developers' entry points. `make test` and `make conformance` set up and run everything.
MVN      ?= mvn -B -q
ENGINE   ?=
SANDBOX  ?=
SEED     ?=
QUICK    ?=
BENCH_CRIU ?=

.PHONY: build test fixtures conformance bench clean

build:
	$(MVN) -DskipTests install

fixtures:
	$(MAKE) -C fixtures-c

# Not quiet: Surefire's per-module summaries ("Tests run: ...") are the record of what ran.
test: fixtures
	mvn -B --no-transfer-progress install

conformance: build fixtures
	$(MVN) -pl conformance exec:java -Dexec.mainClass=dev.cryo.conformance.Main \
	  -Dexec.args="$(if $(ENGINE),--engine=$(ENGINE)) $(if $(SANDBOX),--sandbox=$(SANDBOX)) $(if $(SEED),--seed=$(SEED))"

# QUICK=1: counter, 64 MiB, 256 MiB on tmpfs, 2 reps. BENCH_CRIU=/path/to/criu: measure CRIU in the same run.
bench: fixtures
	$(MVN) -DskipTests -pl bench -am install
	java -Djava.awt.headless=true -cp bench/target/benchmarks.jar dev.cryo.bench.Main --root=$(CURDIR) \
	  $(if $(QUICK),--quick) $(if $(BENCH_CRIU),--criu=$(BENCH_CRIU))

clean:
	$(MVN) clean
	$(MAKE) -C fixtures-c clean
