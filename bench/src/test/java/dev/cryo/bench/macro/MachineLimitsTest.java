package dev.cryo.bench.macro;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MachineLimitsTest {
    @Test
    void ddRateIsBytesOverItsOwnSeconds() throws IOException {
        String out = "256+0 records in\n256+0 records out\n"
                + "268435456 bytes (268 MB, 256 MiB) copied, 0.125 s, 2.1 GB/s\n";
        assertEquals(268435456 / 0.125, MachineLimits.parseDdRate(out), 1);
    }

    @Test
    void ddRateReadsLocalesWithDecimalCommas() throws IOException {
        String out = "1073741824 bytes (1,1 GB, 1,0 GiB) copied, 0,5 s, 2,1 GB/s\n";
        assertEquals(1073741824 / 0.5, MachineLimits.parseDdRate(out), 1);
    }

    @Test
    void ddWithoutASummaryIsAnError() {
        assertThrows(IOException.class, () -> MachineLimits.parseDdRate("dd: failed to open 'x': No such file"));
    }

    @Test
    void medianOfEvenCountIsTheMeanOfTheMiddleTwo() {
        assertEquals(2.5, MachineLimits.median(new double[]{4, 1, 3, 2}));
        assertEquals(3, MachineLimits.median(new double[]{5, 3, 1}));
    }
}
