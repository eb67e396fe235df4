/**
 * CRIU-compatible checkpoint images, with nothing but protobuf on the classpath.
 * <ul>
 *   <li>{@link dev.cryo.image.ImageFile}: one image file, binary framing (magics, size-prefixed protobuf entries,
 *       raw payloads), read and written.</li>
 *   <li>{@link dev.cryo.image.CritJson}: crit's JSON form of an image, both ways.</li>
 *   <li>{@link dev.cryo.image.ImageDir}: a dump directory with typed accessors, pages-N.img files and the
 *       {@code parent} chain of incremental dumps; {@link dev.cryo.image.PageIndex} finds pages across it.</li>
 *   <li>{@code dev.cryo.image.proto}: the schema, generated from {@code src/main/proto} with CRIU's message names
 *       ({@code core_entry}, {@code pagemap_entry}, ...) and field numbers.</li>
 * </ul>
 * Every decoding error is an {@link dev.cryo.image.ImageFormatException} naming the file and offset.
 */
package dev.cryo.image;
