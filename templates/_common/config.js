'use strict';
// The settings of this game (enginev2d template "{{TEMPLATE_ID}}"). runtime.js and game.js
// only read these constants: changing a value here changes the game.
const TEMPLATE_ID = {{TEMPLATE_ID_JS}};
const TITLE = {{TITLE_JS}};
const LANG = {{LANG_JS}}; // language of every text below
const COLORS = {{COLORS_JSON}};
const GLOW = {{GLOW}}; // 0 (flat) .. 40 (neon)
const SPEED = {{SPEED}}; // 1 (slow) .. 10 (fast)
const DIFFICULTY = {{DIFFICULTY_JS}}; // "easy" | "normal" | "hard"
const SIZE = {{SIZE}}; // 1 (small) .. 5 (big): the size of the main objects
const BACKGROUND = {{BACKGROUND_JS}}; // "plain" | "stars" | "sky" | "sea"
const SOUND = {{SOUND}}; // sound effects on or off
const OPTIONS = {{OPTIONS_JSON}}; // this template's own settings
const SPRITES = {{SPRITES_JSON}}; // sprite role -> image (a drawn shape until it loads)
const TEXT = {{TEXT_JSON}};
