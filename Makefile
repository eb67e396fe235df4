# Cryo: the developers' entry points. `make test` and `make conformance` set up and run everything.
MVN      ?= mvn -B -q
ENGINE   ?=
RESTORE_ENGINE ?=
SANDBOX  ?=
SEED     ?=
CASES    ?=
QUICK    ?=
BENCH_CRIU ?=
BENCH_APPS ?=
BENCH_ROWS ?=
BENCH_RESIDENT ?=

.PHONY: setup build test fixtures conformance bench clean

# Set-up, first thing in `make test` and `make conformance`: as root, .ci/provision installs the Debian
# packages that are missing and .ci/dockerd starts dockerd if it is installed but stopped; as a user, both
# say what is missing and how to fix it, and the build goes on. Fast when nothing is missing.
setup:
	@bash .ci/provision $(if $(findstring vagrant,$(SANDBOX)),--with-vagrant)
	@bash .ci/dockerd

build:
	$(MVN) -DskipTests install

fixtures:
	$(MAKE) -C fixtures-c

# .ci/provision-test: provision and dockerd ask for the right thing when something is missing (fakes, dry runs).
# Not quiet: Surefire's per-module summaries ("Tests run: ...") are the record of what ran.
test: setup fixtures
	bash .ci/provision-test
	mvn -B --no-transfer-progress install

# CASES=REGEX: only the cases and properties whose name matches (e.g. CASES=apps- for the apps group).
# RESTORE_ENGINE=PATH|cryo: ENGINE (Cryo when unset) dumps, RESTORE_ENGINE restores: each engine's images in the other.
conformance: setup build fixtures
	$(MVN) -pl conformance exec:java -Dexec.mainClass=dev.cryo.conformance.Main \
	  -Dexec.args="$(if $(ENGINE),--engine=$(ENGINE)) $(if $(RESTORE_ENGINE),--restore-engine=$(RESTORE_ENGINE)) $(if $(SANDBOX),--sandbox=$(SANDBOX)) $(if $(SEED),--seed=$(SEED)) $(if $(CASES),--cases=$(CASES))"

# QUICK=1: counter, 64 threads, 64 MiB, 256 MiB, the 100-task tree on tmpfs, 2 reps. BENCH_CRIU=/path/to/criu: measure CRIU in the same run.
# Then the real programs of the apps group and the JVM start-up figure (dev.cryo.conformance.apps.AppBench);
# BENCH_APPS=REGEX picks programs (redis|nginx|jvm17|jvm25|python-http|python-workers; QUICK=1: redis|jvm17).
# BENCH_ROWS=REGEX picks the fixture rows by workload name (counter|threads-64|memory-64M|tree-100...).
# BENCH_RESIDENT=1 adds cryo-resident rows: bin/cryo handing each command to a `cryo service --resident` the run starts.
# Last, containers: runc checkpoint and restore of a counting container with Cryo as runc's CRIU (and BENCH_CRIU's).
# The exit status is the first part's that failed.
bench: fixtures
	$(MVN) -DskipTests -pl bench,conformance -am install
	java -Djava.awt.headless=true -cp bench/target/benchmarks.jar dev.cryo.bench.Main --root=$(CURDIR) \
	  $(if $(QUICK),--quick) $(if $(BENCH_RESIDENT),--resident) $(if $(BENCH_CRIU),--criu=$(BENCH_CRIU)) $(if $(BENCH_ROWS),"--workloads=$(BENCH_ROWS)"); status=$$?; \
	$(MVN) -pl conformance exec:java@apps-bench \
	  -Dexec.args="--repo=$(CURDIR) $(if $(BENCH_CRIU),--criu=$(BENCH_CRIU)) $(if $(BENCH_APPS),--apps=$(BENCH_APPS),$(if $(QUICK),--apps=redis|jvm17))" \
	  || { apps=$$?; [ $$status != 0 ] || status=$$apps; }; \
	java -cp bench/target/benchmarks.jar dev.cryo.bench.containers.ContainerBench --root=$(CURDIR) \
	  $(if $(QUICK),--reps=2) $(if $(BENCH_CRIU),--criu=$(BENCH_CRIU)) \
	  || { containers=$$?; [ $$status != 0 ] || status=$$containers; }; exit $$status

clean:
	$(MVN) clean
	$(MAKE) -C fixtures-c clean
