// `require('procguard/register')`, `node --require procguard/register`: every child of this
// process, whoever spawns it, goes through procguard.
import { install } from './register';

install();
